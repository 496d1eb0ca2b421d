//! Output comparison: does what the program printed match the expected output?
//!
//! The rule is the one most judges use for plain text answers (Judge0's per-line rstrip):
//! white space at the end of each line (spaces, tabs, `\r`) and blank lines at the end of
//! the output do not count; everything else is compared byte for byte, so leading spaces,
//! spaces between tokens and blank lines in the middle all matter. Ignoring `\r` makes
//! Windows line endings in either the program's output or the stored answer harmless.

/// True when `actual` matches `expected` under the rule above.
pub fn outputs_match(actual: &[u8], expected: &[u8]) -> bool {
    lines(actual).eq(lines(expected))
}

fn is_trailing_space(byte: &u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r')
}

/// The lines that count: trailing blank lines dropped, each line without trailing white space.
fn lines(output: &[u8]) -> impl Iterator<Item = &[u8]> {
    // Dropping trailing white space *and newlines* from the whole text removes the trailing
    // blank lines (even ones holding only spaces) and the last line's trailing spaces at once.
    let end = output
        .iter()
        .rposition(|b| !is_trailing_space(b) && *b != b'\n')
        .map_or(0, |i| i + 1);
    output[..end].split(|b| *b == b'\n').map(|line| {
        let end = line
            .iter()
            .rposition(|b| !is_trailing_space(b))
            .map_or(0, |i| i + 1);
        &line[..end]
    })
}

#[cfg(test)]
mod tests {
    use super::outputs_match;

    fn same(a: &str, b: &str) -> bool {
        // The rule is symmetric: check both ways every time.
        let forward = outputs_match(a.as_bytes(), b.as_bytes());
        assert_eq!(
            forward,
            outputs_match(b.as_bytes(), a.as_bytes()),
            "{a:?} vs {b:?}"
        );
        forward
    }

    #[test]
    fn identical_outputs_match() {
        assert!(same("3\n", "3\n"));
        assert!(same("1 2 3\n4 5 6\n", "1 2 3\n4 5 6\n"));
        assert!(same("", ""));
    }

    #[test]
    fn missing_final_newline_is_fine() {
        assert!(same("3", "3\n"));
        assert!(same("a\nb", "a\nb\n"));
    }

    #[test]
    fn trailing_white_space_on_lines_is_ignored() {
        assert!(same("3   \n", "3\n"));
        assert!(same("1 2\t\n3 \r\n", "1 2\n3\n"));
        assert!(same("a \t \r\nb\r\n", "a\nb"));
    }

    #[test]
    fn windows_line_endings_are_fine() {
        assert!(same("1\r\n2\r\n", "1\n2\n"));
    }

    #[test]
    fn trailing_blank_lines_are_ignored() {
        assert!(same("3\n\n\n", "3\n"));
        assert!(same("3\n  \n\t\n\r\n", "3"));
        assert!(same("\n\n", ""));
        assert!(same("   ", ""));
    }

    #[test]
    fn leading_white_space_counts() {
        assert!(!same(" 3\n", "3\n"));
        assert!(!same("\t3", "3"));
    }

    #[test]
    fn leading_blank_lines_count() {
        assert!(!same("\n3\n", "3\n"));
    }

    #[test]
    fn interior_blank_lines_count() {
        assert!(!same("1\n\n2\n", "1\n2\n"));
        assert!(same("1\n \n2\n", "1\n\n2\n"));
    }

    #[test]
    fn white_space_between_tokens_counts() {
        assert!(!same("1  2\n", "1 2\n"));
        assert!(!same("1\t2\n", "1 2\n"));
        assert!(!same("1\n2\n", "1 2\n"));
    }

    #[test]
    fn different_content_does_not_match() {
        assert!(!same("4\n", "3\n"));
        assert!(!same("3\n", ""));
        assert!(!same("3\n4\n", "3\n"));
        assert!(!same("abc\n", "ABC\n"));
        assert!(!same("3.0\n", "3\n"));
    }

    #[test]
    fn other_white_space_is_content() {
        // Only spaces, tabs and \r are trailing white space; a form feed or NUL is content.
        assert!(!same("3\x0c\n", "3\n"));
        assert!(!same("3\0\n", "3\n"));
        // A lone \r in the middle of a line is content too.
        assert!(!same("1\r2\n", "12\n"));
    }

    #[test]
    fn bytes_not_utf8_compare_exactly() {
        assert!(outputs_match(b"\xff\xfe\n", b"\xff\xfe"));
        assert!(!outputs_match(b"\xff\xfe\n", b"\xff\xfd\n"));
    }
}
