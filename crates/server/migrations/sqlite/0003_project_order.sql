-- Colour tokens are ordered within their project (curation reorders them), not within
-- the extraction that found them: number them project-wide in their former order.
UPDATE color_tokens SET position = r.rn
FROM (
    SELECT id, ROW_NUMBER() OVER (PARTITION BY project_id ORDER BY session_id, position) - 1 AS rn
    FROM color_tokens
) AS r
WHERE color_tokens.id = r.id;
CREATE INDEX color_tokens_order ON color_tokens (project_id, position);
