DROP TABLE shadow_deployments;
