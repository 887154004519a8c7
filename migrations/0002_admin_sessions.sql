CREATE TABLE "admin_sessions" (
	"telegram_id" bigint PRIMARY KEY NOT NULL,
	"campaign_id" uuid NOT NULL,
	"awaiting_language" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "admin_sessions" ADD CONSTRAINT "admin_sessions_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE cascade ON UPDATE no action;