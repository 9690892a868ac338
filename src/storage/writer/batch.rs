//! What an ingest request hands the writer, and what it gets back: the incidents and samples
//! of one request, its idempotency key, and each incident's outcome.

use chrono::NaiveDateTime;

/// An incident ready to store.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub instance: String,
    pub name: String,
    pub type_: Option<String>,
    pub occurred: NaiveDateTime,
    pub created: NaiveDateTime,
    pub raw_json: String,
    pub severity: Option<String>,
    pub dedup_key: Option<String>,
    /// A JSON object's text, or None.
    pub labels: Option<String>,
    /// The delivery resolves the incident it lands on (mapping `resolve_when`).
    pub resolves: bool,
    /// The words the free-text index holds for it (`incidents::text_index::search_text` of the
    /// name and `raw_json`), made by whoever builds the incident: on the request's worker
    /// thread, not on the writer's, which every request waits for.
    pub search_text: String,
}

/// A received element kept as a sample.
#[derive(Debug, Clone)]
pub struct NewSample {
    pub received: NaiveDateTime,
    pub body: String,
    pub headers: String,
    pub body_hash: String,
}

/// Everything one ingest request stores.
pub struct WriteBatch {
    pub instance_id: i32,
    pub incidents: Vec<NewIncident>,
    pub samples: Vec<NewSample>,
    /// How many samples the instance keeps.
    pub sample_limit: i32,
    /// The request's `Idempotency-Key`, with what its response looks like.
    pub idempotency: Option<Idempotency>,
}

/// Renders a response from the stored incidents.
pub type RenderResponse = Box<dyn Fn(&[Stored]) -> String + Send>;

/// An `Idempotency-Key` request: a retry within the retention window gets the first
/// response back and stores nothing.
pub struct Idempotency {
    pub instance: String,
    pub key: String,
    /// Renders the response once the incidents are stored; kept for retries.
    pub render: RenderResponse,
}

/// What a batch came to.
#[derive(Debug, Default)]
pub struct Written {
    pub stored: Vec<Stored>,
    /// For an idempotent request: the response to send, the first one's for a retry.
    pub response: Option<String>,
}

/// Why a batch was not stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the write queue is full")]
    Saturated,
    #[error("the writer has stopped")]
    Stopped,
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("the commit did not finish in time")]
    TimedOut,
}

/// What happened to one incident of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// A delivery with the dedup key of an open incident: that incident was updated.
    Updated,
    /// The same payload again for an open incident's dedup key: counted (occurrences, last
    /// seen), nothing else changed, no event added.
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// One stored incident: its id and whether it was created or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub id: i64,
    pub outcome: Outcome,
}

pub(super) fn storage_error(error: diesel::result::Error) -> WriteError {
    storage_error_text(&error.to_string())
}

pub(super) fn storage_error_text(error: &str) -> WriteError {
    log::error!("storing incidents failed: {error}");
    WriteError::Storage(error.to_string())
}
