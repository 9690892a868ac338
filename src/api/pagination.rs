//! A page of a keyset-paginated list: its items and the cursor of the next page.

use crate::incidents::IncidentView;

/// One page of incidents, newest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Page {
    pub(super) items: Vec<IncidentView>,
    /// The `cursor` of the next page; null on the last page.
    pub(super) next_cursor: Option<String>,
}
