//! The HTTP contract of client-api: every request and response body, defined once.
//!
//! The API serializes (and documents, through `utoipa`) these types; the load generator and
//! the tests deserialize the same types, so a field added here reaches every reader at once
//! and a field renamed breaks their build instead of their runs. What the API *validates*
//! beyond shape (bounds, non-blank text) lives in client-api's `domain`.

pub mod json_integer;
mod languages;
mod problem_details;
mod problems;
mod rejudge;
mod submissions;

pub use languages::LanguageView;
pub use problem_details::{FieldError, ProblemDetails};
pub use problems::{CreateProblem, ProblemCreated, ProblemView, ReplaceTestcases};
pub use rejudge::{ProblemRejudged, RejudgedSubmission};
pub use submissions::{
    JudgingView, SubmissionStatus, SubmissionView, SubmitRequest, SubmitResponse, Timings,
};
