//! Field mapping: derives incident fields from arbitrary payloads. Pure: a compiled
//! [`Mapping`] and a payload in, field values out; no I/O, so it is tested with plain values.
//!
//! A mapping document is JSON (see docs/mapping.md). It is compiled once — JSONPaths parsed,
//! regexes built — when saved (where an invalid one is refused, naming the field) and when a
//! server loads its instances; evaluating it allocates only the values it yields.

mod compile;
mod compiled;
mod document;
mod evaluate;
mod guard;
mod presets;
pub mod report;

pub use compiled::{Mapped, Mapping, Part};
pub use document::{ClassifyDoc, ConditionDoc, MappingDoc, TargetDoc, SEVERITIES};
pub use evaluate::kind_of;
pub use presets::{preset, PRESETS};

#[cfg(test)]
mod tests;
