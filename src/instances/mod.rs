//! Instances: named inbound endpoints with their credentials and settings, the samples they
//! keep, and the in-memory registry the ingest path reads instead of the database.

pub mod auth_settings;
pub mod freshness;
pub mod model;
pub mod registry;
pub mod store;

pub use model::{
    CredentialView, InstanceChanges, InstanceView, ListenerSpec, NewInstance, SampleView,
};
pub use registry::{InstanceConfig, Registry, SharedRegistry};
