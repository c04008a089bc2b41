ALTER TABLE "refunds" ADD COLUMN "refund_id" text;--> statement-breakpoint
CREATE UNIQUE INDEX "refunds_provider_refund_id" ON "refunds" USING btree ("provider","refund_id");