DROP TABLE chaos_runs;
