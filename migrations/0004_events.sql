CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`cluster_id` text NOT NULL,
	`type` text NOT NULL,
	`action` text NOT NULL,
	`actor_id` text NOT NULL,
	`attributes` text NOT NULL,
	`time` integer NOT NULL,
	FOREIGN KEY (`cluster_id`) REFERENCES `clusters`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `events_cluster` ON `events` (`cluster_id`,`id`);--> statement-breakpoint
CREATE INDEX `events_time` ON `events` (`time`);