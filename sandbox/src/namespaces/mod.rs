//! The isolated sandbox: namespaces, a fresh root, cgroups, seccomp. (Being written.)
