CREATE TABLE `config` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `image_aliases` (
	`name` text PRIMARY KEY NOT NULL,
	`fingerprint` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`type` text DEFAULT 'container' NOT NULL,
	FOREIGN KEY (`fingerprint`) REFERENCES `images`(`fingerprint`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `images` (
	`fingerprint` text PRIMARY KEY NOT NULL,
	`filename` text DEFAULT '' NOT NULL,
	`size` integer NOT NULL,
	`architecture` text NOT NULL,
	`type` text DEFAULT 'container' NOT NULL,
	`public` integer DEFAULT false NOT NULL,
	`auto_update` integer DEFAULT false NOT NULL,
	`cached` integer DEFAULT false NOT NULL,
	`properties` text DEFAULT '{}' NOT NULL,
	`profiles` text DEFAULT '["default"]' NOT NULL,
	`created_at` text NOT NULL,
	`uploaded_at` text NOT NULL,
	`last_used_at` text NOT NULL,
	`expires_at` text NOT NULL,
	`update_source` text
);
--> statement-breakpoint
CREATE TABLE `instances` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`type` text DEFAULT 'container' NOT NULL,
	`architecture` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`ephemeral` integer DEFAULT false NOT NULL,
	`stateful` integer DEFAULT false NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`devices` text DEFAULT '{}' NOT NULL,
	`profiles` text DEFAULT '[]' NOT NULL,
	`created_at` text NOT NULL,
	`last_used_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `instances_name_unique` ON `instances` (`name`);--> statement-breakpoint
CREATE TABLE `profiles` (
	`name` text PRIMARY KEY NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`devices` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE TABLE `storage_pools` (
	`name` text PRIMARY KEY NOT NULL,
	`driver` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`status` text DEFAULT 'Created' NOT NULL
);
