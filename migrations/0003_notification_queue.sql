CREATE TABLE "notification_queue" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"telegram_id" bigint NOT NULL,
	"type" text NOT NULL,
	"text" text NOT NULL,
	"parse_mode" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"scheduled_at" timestamp with time zone DEFAULT now() NOT NULL,
	"claimed_until" timestamp with time zone,
	"sent_at" timestamp with time zone,
	"message_id" bigint,
	"error_message" text,
	"dedupe_key" text,
	"batch_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "notification_queue_dedupe_key_unique" UNIQUE("dedupe_key"),
	CONSTRAINT "notification_queue_status_check" CHECK ("notification_queue"."status" in ('pending', 'sent', 'failed'))
);
--> statement-breakpoint
CREATE INDEX "notification_queue_due_idx" ON "notification_queue" USING btree ("scheduled_at") WHERE "notification_queue"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "notification_queue_batch_idx" ON "notification_queue" USING btree ("batch_id","status");--> statement-breakpoint
CREATE INDEX "notification_queue_finished_idx" ON "notification_queue" USING btree ("created_at") WHERE "notification_queue"."status" <> 'pending';