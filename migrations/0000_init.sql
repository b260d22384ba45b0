CREATE TABLE `tenants` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tenants_name_unique` ON `tenants` (`name`);--> statement-breakpoint
CREATE TABLE `clusters` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`name` text NOT NULL,
	`manager_node_id` text NOT NULL,
	`spec` text NOT NULL,
	`initialized_at` integer,
	`advertise_url` text,
	`signing_key` text NOT NULL,
	`change_index` integer DEFAULT 1 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `clusters_tenant_name` ON `clusters` (`tenant_id`,`name`);--> statement-breakpoint
CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`cluster_id` text NOT NULL,
	`name` text NOT NULL,
	`secret_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`cluster_id`) REFERENCES `clusters`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_secretHash_unique` ON `api_keys` (`secret_hash`);--> statement-breakpoint
CREATE TABLE `join_tokens` (
	`jti` text PRIMARY KEY NOT NULL,
	`cluster_id` text NOT NULL,
	`role` text NOT NULL,
	`single_use` integer DEFAULT false NOT NULL,
	`current` integer DEFAULT false NOT NULL,
	`issued_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	`revoked_at` integer,
	FOREIGN KEY (`cluster_id`) REFERENCES `clusters`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `join_tokens_cluster` ON `join_tokens` (`cluster_id`,`role`);--> statement-breakpoint
CREATE TABLE `nodes` (
	`id` text PRIMARY KEY NOT NULL,
	`cluster_id` text NOT NULL,
	`role` text NOT NULL,
	`spec` text NOT NULL,
	`availability` text NOT NULL,
	`hostname` text NOT NULL,
	`description` text NOT NULL,
	`state` text NOT NULL,
	`state_message` text DEFAULT '' NOT NULL,
	`credential_generation` integer DEFAULT 1 NOT NULL,
	`last_heartbeat_at` integer,
	`version` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`cluster_id`) REFERENCES `clusters`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `nodes_cluster` ON `nodes` (`cluster_id`);--> statement-breakpoint
CREATE TABLE `services` (
	`id` text PRIMARY KEY NOT NULL,
	`cluster_id` text NOT NULL,
	`name` text NOT NULL,
	`spec` text NOT NULL,
	`previous_spec` text,
	`spec_hash` text NOT NULL,
	`endpoint_ports` text NOT NULL,
	`update_status` text,
	`version` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`cluster_id`) REFERENCES `clusters`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `services_cluster_name` ON `services` (`cluster_id`,`name`);--> statement-breakpoint
CREATE INDEX `services_cluster` ON `services` (`cluster_id`);--> statement-breakpoint
CREATE TABLE `tasks` (
	`id` text PRIMARY KEY NOT NULL,
	`cluster_id` text NOT NULL,
	`service_id` text NOT NULL,
	`slot` integer NOT NULL,
	`node_id` text,
	`spec` text NOT NULL,
	`spec_hash` text NOT NULL,
	`desired_state` text NOT NULL,
	`state` text NOT NULL,
	`message` text DEFAULT '' NOT NULL,
	`err` text,
	`container_status` text,
	`port_status` text,
	`status_at` integer NOT NULL,
	`version` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`cluster_id`) REFERENCES `clusters`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `tasks_service` ON `tasks` (`cluster_id`,`service_id`);--> statement-breakpoint
CREATE INDEX `tasks_node_version` ON `tasks` (`node_id`,`version`);--> statement-breakpoint
CREATE INDEX `tasks_live` ON `tasks` (`cluster_id`,`desired_state`) WHERE desired_state in ('running', 'ready');--> statement-breakpoint
CREATE TABLE `leases` (
	`name` text PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`epoch` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`acquired_at` integer NOT NULL
);
