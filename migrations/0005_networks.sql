CREATE TABLE `networks` (
	`id` text PRIMARY KEY NOT NULL,
	`cluster_id` text NOT NULL,
	`name` text NOT NULL,
	`subnet` text NOT NULL,
	`gateway` text NOT NULL,
	`attachable` integer DEFAULT false NOT NULL,
	`internal` integer DEFAULT false NOT NULL,
	`ingress` integer DEFAULT false NOT NULL,
	`labels` text NOT NULL,
	`options` text NOT NULL,
	`version` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`cluster_id`) REFERENCES `clusters`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `networks_cluster_name` ON `networks` (`cluster_id`,`name`);--> statement-breakpoint
-- Swarms initialised before networks existed get the predefined ingress network, as docker swarm init now makes it.
INSERT INTO `networks` (`id`, `cluster_id`, `name`, `subnet`, `gateway`, `attachable`, `internal`, `ingress`, `labels`, `options`, `version`, `created_at`, `updated_at`)
SELECT substr(lower(hex(randomblob(13))), 1, 25), `id`, 'ingress', '10.0.0.0/24', '10.0.0.1', 0, 0, 1, '{}', '{}', `change_index`, `initialized_at`, `initialized_at`
FROM `clusters` WHERE `initialized_at` IS NOT NULL;
