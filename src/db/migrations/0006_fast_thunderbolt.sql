CREATE TABLE `projects` (
	`name` text PRIMARY KEY NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`config` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_image_aliases` (
	`name` text NOT NULL,
	`project` text DEFAULT 'default' NOT NULL,
	`fingerprint` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`type` text DEFAULT 'container' NOT NULL,
	PRIMARY KEY(`project`, `name`),
	FOREIGN KEY (`project`,`fingerprint`) REFERENCES `images`(`project`,`fingerprint`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
INSERT INTO `__new_image_aliases`("name", "project", "fingerprint", "description", "type") SELECT "name", 'default', "fingerprint", "description", "type" FROM `image_aliases`;--> statement-breakpoint
DROP TABLE `image_aliases`;--> statement-breakpoint
ALTER TABLE `__new_image_aliases` RENAME TO `image_aliases`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
DROP INDEX `storage_volumes_pool_name`;--> statement-breakpoint
ALTER TABLE `storage_volumes` ADD `project` text DEFAULT 'default' NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `storage_volumes_pool_project_name` ON `storage_volumes` (`pool`,`project`,`name`);--> statement-breakpoint
CREATE TABLE `__new_images` (
	`fingerprint` text NOT NULL,
	`project` text DEFAULT 'default' NOT NULL,
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
	`update_source` text,
	PRIMARY KEY(`project`, `fingerprint`)
);
--> statement-breakpoint
INSERT INTO `__new_images`("fingerprint", "project", "filename", "size", "architecture", "type", "public", "auto_update", "cached", "properties", "profiles", "created_at", "uploaded_at", "last_used_at", "expires_at", "update_source") SELECT "fingerprint", 'default', "filename", "size", "architecture", "type", "public", "auto_update", "cached", "properties", "profiles", "created_at", "uploaded_at", "last_used_at", "expires_at", "update_source" FROM `images`;--> statement-breakpoint
DROP TABLE `images`;--> statement-breakpoint
ALTER TABLE `__new_images` RENAME TO `images`;--> statement-breakpoint
CREATE TABLE `__new_networks` (
	`name` text NOT NULL,
	`project` text DEFAULT 'default' NOT NULL,
	`type` text DEFAULT 'bridge' NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	PRIMARY KEY(`project`, `name`)
);
--> statement-breakpoint
INSERT INTO `__new_networks`("name", "project", "type", "description", "config") SELECT "name", 'default', "type", "description", "config" FROM `networks`;--> statement-breakpoint
DROP TABLE `networks`;--> statement-breakpoint
ALTER TABLE `__new_networks` RENAME TO `networks`;--> statement-breakpoint
CREATE TABLE `__new_profiles` (
	`name` text NOT NULL,
	`project` text DEFAULT 'default' NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`devices` text DEFAULT '{}' NOT NULL,
	PRIMARY KEY(`project`, `name`)
);
--> statement-breakpoint
INSERT INTO `__new_profiles`("name", "project", "description", "config", "devices") SELECT "name", 'default', "description", "config", "devices" FROM `profiles`;--> statement-breakpoint
DROP TABLE `profiles`;--> statement-breakpoint
ALTER TABLE `__new_profiles` RENAME TO `profiles`;--> statement-breakpoint
ALTER TABLE `instances` ADD `project` text DEFAULT 'default' NOT NULL;