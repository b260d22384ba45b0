ALTER TABLE `services` ADD `job_status` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `job_iteration` integer;