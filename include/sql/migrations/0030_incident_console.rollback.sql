DROP INDEX incidents_entity;
DROP INDEX incidents_queue_active;
DROP INDEX incidents_queue_order;
