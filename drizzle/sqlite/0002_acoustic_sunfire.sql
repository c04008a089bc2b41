CREATE TABLE `hookinbox_status_counts` (
	`provider` text NOT NULL,
	`status` text NOT NULL,
	`shard` integer NOT NULL,
	`n` integer NOT NULL,
	PRIMARY KEY(`provider`, `status`, `shard`)
);
