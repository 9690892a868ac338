//! A page of a keyset-paginated list: its items and the cursor of the next page.

use crate::incidents::IncidentView;

/// One page of incidents.
#[derive(serde::Serialize)]
pub(super) struct Page {
    pub(super) items: Vec<IncidentView>,
    pub(super) next_cursor: Option<String>,
}
