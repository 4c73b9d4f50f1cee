CREATE TABLE `network_members` (
	`network` text NOT NULL,
	`member` text NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`status` text DEFAULT 'Pending' NOT NULL,
	PRIMARY KEY(`network`, `member`)
);
--> statement-breakpoint
CREATE TABLE `storage_pool_members` (
	`pool` text NOT NULL,
	`member` text NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`status` text DEFAULT 'Pending' NOT NULL,
	PRIMARY KEY(`pool`, `member`)
);
--> statement-breakpoint
ALTER TABLE `networks` ADD `status` text DEFAULT 'Created' NOT NULL;