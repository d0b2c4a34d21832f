-- Every autoscaling decision of the control plane, with the inputs it was made from.
CREATE TABLE scaling_events (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    decided_at        timestamptz NOT NULL DEFAULT now(),
    domain            text        NOT NULL,
    job_id            text,
    action            text        NOT NULL CHECK (action IN ('scale_up', 'scale_down', 'hold')),
    from_parallelism  integer     NOT NULL CHECK (from_parallelism >= 1),
    to_parallelism    integer     NOT NULL CHECK (to_parallelism >= 1),
    reason            text        NOT NULL,
    inputs            jsonb       NOT NULL,          -- lag, rates, busy fraction, bounds, policy
    dag_run_id        text,
    -- filled when the rescale finished (or failed) and when the lag drained
    rescaled_at       timestamptz,
    drained_at        timestamptz,
    outcome           text CHECK (outcome IN ('rescaled', 'failed', 'drained', 'not_needed')),
    CHECK (action <> 'hold' OR from_parallelism = to_parallelism),
    CHECK (rescaled_at IS NULL OR rescaled_at >= decided_at),
    CHECK (drained_at IS NULL OR drained_at >= decided_at)
);
CREATE INDEX scaling_events_domain_time ON scaling_events (domain, decided_at DESC);
GRANT SELECT, INSERT, UPDATE ON scaling_events TO patternalarm_control;
