CREATE TABLE `cluster_members` (
	`id` integer PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`address` text NOT NULL,
	`raft_address` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`architecture` text NOT NULL,
	`state` text DEFAULT 'online' NOT NULL,
	`heartbeat` integer NOT NULL,
	`config` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cluster_members_name_unique` ON `cluster_members` (`name`);--> statement-breakpoint
ALTER TABLE `instances` ADD `location` text DEFAULT 'none' NOT NULL;