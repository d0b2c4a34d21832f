"""Astro-style include/: the domain package (patternalarm), Flink SQL, Spark jobs, SQL, GX suites."""
