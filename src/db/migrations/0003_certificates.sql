CREATE TABLE `certificates` (
	`fingerprint` text PRIMARY KEY NOT NULL,
	`type` text DEFAULT 'client' NOT NULL,
	`name` text NOT NULL,
	`certificate` text NOT NULL,
	`restricted` integer DEFAULT false NOT NULL,
	`projects` text DEFAULT '[]' NOT NULL
);
