//! Fixtures every switchyard test suite needs, in one place: whether a privileged or
//! tool-dependent test may run (under `CI` a missing requirement is a failure, never a silent
//! skip), names unique per test and process, running a command with its stderr in the error,
//! network namespaces with veth pairs that delete themselves, and a strict reader of the
//! Prometheus text format.

mod command;
mod exposition;
mod names;
mod netns;
mod requirements;

pub use command::run;
pub use exposition::{Sample, parse_exposition, value_of};
pub use names::unique_name;
pub use netns::{Netns, veth};
pub use requirements::{is_root, kubectl_available, require_root, require_tool};
