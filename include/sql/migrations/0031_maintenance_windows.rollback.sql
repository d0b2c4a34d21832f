DROP FUNCTION start_maintenance(text[], text, text, timestamptz, timestamptz, text, text);
ALTER TABLE silences DROP COLUMN kind;
