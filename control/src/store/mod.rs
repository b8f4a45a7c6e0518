//! The durable store (redb): objects, the global resourceVersion, and the watch history.
//!
//! OWNER: store/API helper. This file is a placeholder.
