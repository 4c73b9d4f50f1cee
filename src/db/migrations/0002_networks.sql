CREATE TABLE `networks` (
	`name` text PRIMARY KEY NOT NULL,
	`type` text DEFAULT 'bridge' NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`config` text DEFAULT '{}' NOT NULL
);
