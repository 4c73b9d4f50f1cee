CREATE TABLE `warnings` (
	`uuid` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`entity_url` text DEFAULT '' NOT NULL,
	`project` text DEFAULT '' NOT NULL,
	`severity` text NOT NULL,
	`status` text NOT NULL,
	`count` integer DEFAULT 1 NOT NULL,
	`first_seen_at` text NOT NULL,
	`last_seen_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`last_message` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `warnings_condition` ON `warnings` (`type`,`entity_url`,`project`);