-- Facets over a free-text or label filter count the matches by (instance, type, status,
-- severity). Reading those four columns from each match's row touches one wide row (and
-- page) per match; this narrow index holds them by id, so a facet count reads about a hundred
-- matches per page, in id order (docs/decisions.md, "Facets over words and labels").
CREATE INDEX incidents_facets ON incidents(id, instance, type, status, severity);
