-- The simulator writes its runs and ground truth as a role of its own (least privilege):
-- the control plane only reads them.
GRANT SELECT, INSERT ON sim_runs, ground_truth TO patternalarm_simulator;
GRANT UPDATE (finished_at, status, summary) ON sim_runs TO patternalarm_simulator;
REVOKE INSERT, UPDATE ON sim_runs, ground_truth FROM patternalarm_control;
