CREATE TABLE "auto_renewals" (
	"panel_user_id" integer PRIMARY KEY NOT NULL,
	"telegram_id" bigint NOT NULL,
	"plan" text NOT NULL,
	"days" integer NOT NULL,
	"amount" text NOT NULL,
	"asset" text NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscription_reminders" (
	"panel_user_id" integer NOT NULL,
	"bracket" text NOT NULL,
	"expire_at" timestamp with time zone NOT NULL,
	"sent_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "subscription_reminders_panel_user_id_bracket_expire_at_pk" PRIMARY KEY("panel_user_id","bracket","expire_at")
);
