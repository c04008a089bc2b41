CREATE TABLE `hookinbox_transmissions` (
	`provider` text NOT NULL,
	`transmission_id` text NOT NULL,
	`body_sha256` text NOT NULL,
	`received_at` integer NOT NULL,
	PRIMARY KEY(`provider`, `transmission_id`)
);
--> statement-breakpoint
CREATE INDEX `hookinbox_transmissions_received_at` ON `hookinbox_transmissions` (`received_at`);