ALTER TABLE `refunds` ADD `refund_id` text;--> statement-breakpoint
CREATE UNIQUE INDEX `refunds_provider_refund_id` ON `refunds` (`provider`,`refund_id`);