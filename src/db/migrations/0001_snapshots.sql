CREATE TABLE `instance_snapshots` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`instance_id` integer NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`stateful` integer DEFAULT false NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text DEFAULT '' NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`devices` text DEFAULT '{}' NOT NULL,
	`profiles` text DEFAULT '[]' NOT NULL,
	FOREIGN KEY (`instance_id`) REFERENCES `instances`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `instance_snapshots_instance_name` ON `instance_snapshots` (`instance_id`,`name`);