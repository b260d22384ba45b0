CREATE TABLE `payloads` (
	`id` text PRIMARY KEY NOT NULL,
	`cluster_id` text NOT NULL,
	`kind` text NOT NULL,
	`name` text NOT NULL,
	`labels` text NOT NULL,
	`data` text NOT NULL,
	`version` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`cluster_id`) REFERENCES `clusters`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `payloads_cluster_kind_name` ON `payloads` (`cluster_id`,`kind`,`name`);--> statement-breakpoint
ALTER TABLE `clusters` ADD `sealed_data_key` text;