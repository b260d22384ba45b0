CREATE TABLE `log_chunks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`request_id` text NOT NULL,
	`data` blob NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `log_chunks_request` ON `log_chunks` (`request_id`,`id`);--> statement-breakpoint
CREATE INDEX `log_chunks_expiry` ON `log_chunks` (`expires_at`);--> statement-breakpoint
CREATE TABLE `log_requests` (
	`id` text PRIMARY KEY NOT NULL,
	`cluster_id` text NOT NULL,
	`node_id` text NOT NULL,
	`service_id` text NOT NULL,
	`task_ids` text NOT NULL,
	`follow` integer NOT NULL,
	`tail` integer,
	`timestamps` integer NOT NULL,
	`since` real,
	`created_index` integer NOT NULL,
	`closed_index` integer,
	`closed_at` integer,
	`done_at` integer,
	`expires_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`cluster_id`) REFERENCES `clusters`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `log_requests_node` ON `log_requests` (`node_id`);--> statement-breakpoint
CREATE INDEX `log_requests_expiry` ON `log_requests` (`cluster_id`,`expires_at`);