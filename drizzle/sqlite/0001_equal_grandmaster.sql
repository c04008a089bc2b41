CREATE TABLE `hookinbox_object_versions` (
	`provider` text NOT NULL,
	`object_key` text NOT NULL,
	`occurred_at` integer NOT NULL,
	`event_id` text NOT NULL,
	PRIMARY KEY(`provider`, `object_key`)
);
--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`updated_at` integer NOT NULL
);
