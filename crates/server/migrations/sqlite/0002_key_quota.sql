-- An API key may have a per-minute quota lower than its account's (S15).
ALTER TABLE api_keys ADD COLUMN rate_per_minute INTEGER;
