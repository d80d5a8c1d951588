//! The commands of `chalk-conformance`: the command line and one module per subcommand.

pub mod cli;
pub mod docs;
pub mod fuzz;
pub mod load;
pub mod run;
