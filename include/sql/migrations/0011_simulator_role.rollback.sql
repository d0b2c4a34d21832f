GRANT SELECT, INSERT ON sim_runs, ground_truth TO patternalarm_control;
GRANT UPDATE (finished_at, status, summary) ON sim_runs TO patternalarm_control;
REVOKE ALL ON sim_runs, ground_truth FROM patternalarm_simulator;
