-- Base privileges and the stack's own audit log.
-- Runs as patternalarm_owner (owner of the database); yoyo records it in _yoyo_migration.

-- Everything the owner creates here is readable by the reporting and analyst roles;
-- write access is granted table by table in the migration that creates the table.
ALTER DEFAULT PRIVILEGES FOR ROLE patternalarm_owner IN SCHEMA public
    GRANT SELECT ON TABLES TO patternalarm_reporting, patternalarm_analyst;
ALTER DEFAULT PRIVILEGES FOR ROLE patternalarm_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO patternalarm_reporting, patternalarm_analyst;

-- Who started or stopped the stack, when, and with which versions.
CREATE TABLE stack_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    happened_at timestamptz NOT NULL DEFAULT now(),
    action      text        NOT NULL CHECK (action IN ('up', 'down')),
    os_user     text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
GRANT INSERT ON stack_events TO patternalarm_control;
GRANT SELECT ON stack_events TO patternalarm_control;
