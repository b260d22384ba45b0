CREATE TABLE `instances` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`seen_at` integer NOT NULL,
	`started_at` integer NOT NULL
);
