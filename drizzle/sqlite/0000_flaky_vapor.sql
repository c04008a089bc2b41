CREATE TABLE `hookinbox_attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`event_seq` integer NOT NULL,
	`at` integer NOT NULL,
	`outcome` text NOT NULL,
	`duration_ms` integer NOT NULL,
	`error` text,
	`trigger` text DEFAULT 'delivery' NOT NULL,
	FOREIGN KEY (`event_seq`) REFERENCES `hookinbox_events`(`seq`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `hookinbox_attempts_event_seq` ON `hookinbox_attempts` (`event_seq`);--> statement-breakpoint
CREATE TABLE `hookinbox_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`provider` text NOT NULL,
	`event_id` text NOT NULL,
	`type` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`payload` text,
	`received_at` integer NOT NULL,
	`processed_at` integer,
	`occurred_at` integer,
	`last_error` text,
	`handlers` text,
	`duplicates` integer DEFAULT 0 NOT NULL,
	`last_seen_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `hookinbox_events_event_id_provider` ON `hookinbox_events` (`event_id`,`provider`);--> statement-breakpoint
CREATE INDEX `hookinbox_events_status_seq` ON `hookinbox_events` (`status`,`seq`);--> statement-breakpoint
CREATE INDEX `hookinbox_events_provider_seq` ON `hookinbox_events` (`provider`,`seq`);--> statement-breakpoint
CREATE INDEX `hookinbox_events_type_seq` ON `hookinbox_events` (`type`,`seq`);--> statement-breakpoint
CREATE INDEX `hookinbox_events_received_at` ON `hookinbox_events` (`received_at`);--> statement-breakpoint
CREATE TABLE `hookinbox_paypal_certs` (
	`url` text PRIMARY KEY NOT NULL,
	`pem` text NOT NULL,
	`fetched_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `hookinbox_rejections` (
	`provider` text NOT NULL,
	`reason` text NOT NULL,
	`minute` integer NOT NULL,
	`count` integer NOT NULL,
	PRIMARY KEY(`provider`, `reason`, `minute`)
);
--> statement-breakpoint
CREATE INDEX `hookinbox_rejections_minute` ON `hookinbox_rejections` (`minute`);--> statement-breakpoint
CREATE TABLE `paid_checkouts` (
	`session_id` text PRIMARY KEY NOT NULL,
	`customer_email` text,
	`amount_total` integer,
	`currency` text,
	`paid_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `refunds` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`provider` text NOT NULL,
	`reference` text NOT NULL,
	`amount_minor` integer,
	`currency` text,
	`recorded_at` integer NOT NULL
);
