CREATE TABLE "panel_user_leases" (
	"panel_user_id" integer PRIMARY KEY NOT NULL,
	"holder" uuid NOT NULL,
	"until" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "payments_panel_user_idx" ON "payments" USING btree ("remnawave_user_id");