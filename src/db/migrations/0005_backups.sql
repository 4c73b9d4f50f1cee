CREATE TABLE `instance_backups` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`instance_id` integer NOT NULL,
	`name` text NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text DEFAULT '' NOT NULL,
	`instance_only` integer DEFAULT false NOT NULL,
	`optimized_storage` integer DEFAULT false NOT NULL,
	FOREIGN KEY (`instance_id`) REFERENCES `instances`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `instance_backups_instance_name` ON `instance_backups` (`instance_id`,`name`);--> statement-breakpoint
CREATE TABLE `storage_volume_backups` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`volume_id` integer NOT NULL,
	`name` text NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text DEFAULT '' NOT NULL,
	`volume_only` integer DEFAULT false NOT NULL,
	`optimized_storage` integer DEFAULT false NOT NULL,
	FOREIGN KEY (`volume_id`) REFERENCES `storage_volumes`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `storage_volume_backups_volume_name` ON `storage_volume_backups` (`volume_id`,`name`);