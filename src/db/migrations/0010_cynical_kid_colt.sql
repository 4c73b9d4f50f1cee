DROP INDEX `storage_volumes_pool_project_name`;--> statement-breakpoint
ALTER TABLE `storage_volumes` ADD `location` text DEFAULT 'none' NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `storage_volumes_pool_project_name_location` ON `storage_volumes` (`pool`,`project`,`name`,`location`);