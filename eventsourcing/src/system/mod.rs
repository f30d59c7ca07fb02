//! The system layer: process applications, systems of pipes, runners, and exactly-once
//! processing.
//!
//! A [`Process`] is an application of yours with a policy; a [`Follower`] feeds it the
//! notifications of the applications it follows, recording what the policy saved together with
//! the position it reached, atomically. A [`System`] connects applications by pipes; a
//! [`SingleThreadedRunner`] or [`MultiThreadedRunner`] prompts followers when their leaders
//! save.

mod error;
mod follower;
mod process;
mod reader;
mod runner;
#[allow(clippy::module_inception)]
mod system;
#[cfg(feature = "tokio")]
mod tokio_runner;

pub use crate::application::UpstreamEvent;
pub use error::SystemError;
pub use follower::{Follower, DEFAULT_BATCH_SIZE};
pub use process::{PolicyResult, Process, ProcessingEvent};
pub use reader::NotificationLogReader;
pub use runner::{MultiThreadedRunner, SingleThreadedRunner};
pub use system::{System, DEFAULT_GATHERING};
#[cfg(feature = "tokio")]
pub use tokio_runner::TokioRunner;
