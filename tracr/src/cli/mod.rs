//! What the `tracr` command line does beyond parsing arguments, kept in the library so that it is
//! tested on its own: loading a program with its settings, reading and atomically writing model
//! files, and a traced run as JSON.

pub mod model_file;
pub mod program;
pub mod run_json;
