CREATE TABLE `storage_volume_snapshots` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`volume_id` integer NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text DEFAULT '' NOT NULL,
	FOREIGN KEY (`volume_id`) REFERENCES `storage_volumes`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `storage_volume_snapshots_volume_name` ON `storage_volume_snapshots` (`volume_id`,`name`);--> statement-breakpoint
CREATE TABLE `storage_volumes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`pool` text NOT NULL,
	`name` text NOT NULL,
	`type` text DEFAULT 'custom' NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`created_at` text NOT NULL,
	FOREIGN KEY (`pool`) REFERENCES `storage_pools`(`name`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `storage_volumes_pool_name` ON `storage_volumes` (`pool`,`name`);